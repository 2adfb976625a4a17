"""Where the stream goes besides webhooks: the file sink and the NATS sink."""
