"""Our FastAGI side: a sans-IO protocol parser, command quoting, the server, the flow channel."""
