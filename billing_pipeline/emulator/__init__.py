"""A local emulator of the Qonto Business API (invoicing part), for tests and the embedded default.

It emulates an outside party, so it imports no other ``billing_pipeline`` package. Entry points:
``embedded.start_embedded`` (the only one production code uses: the embedded default),
``app.create_app`` (ASGI), ``testing.running_emulator`` / ``testing.in_process_transport`` (tests), and
the ``billing-pipeline emulator`` CLI (``cli.emulator``). See docs/emulator.md.
"""
