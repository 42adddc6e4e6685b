"""The stateful stages as pure functions: a key's book and a batch of items in, outputs out.

``area`` (readings and referral events of one area), ``county`` (the areas' levels) and
``system`` (acute sites' scores). They share the scope records of ``book``, the rules in force
and the output collector of ``context``, the transitions of ``transitions``, the overrides of
``overrides`` and the output values of ``outputs``. Nothing here reads a clock or touches
Kafka: the same book and items always give the same outputs and ids.
"""
