"""The crash-safe image-block store: ESME and GSME blocks, retention, priorities, alert journal."""
