"""The hub: `HubCore` (layer 4, sans-IO: store, OTA server, HAN servers and alert journal wired together) and
the running hub around it (layer 6: `Hub`, the async service on a radio, with its state directory, alert log,
link-key records, credentials, control socket and CLI commands)."""
