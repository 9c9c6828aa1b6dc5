"""Stand-ins for the third parties outside our reach, for development and tests only.

    stripe   a small stateful Stripe: the endpoints billing calls, signed webhooks
    llm      an OpenAI- and Anthropic-compatible provider with scripted failures

No service depends on this package and no service image contains it: it runs beside
the stack (``scripts/devstack.py``, the compose profile ``standins``), in the tests
and in the benchmarks.
"""
