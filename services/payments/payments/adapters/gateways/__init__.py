"""Payment gateways (PSPs) behind one port: the built-in sandbox and real PSP adapters."""
