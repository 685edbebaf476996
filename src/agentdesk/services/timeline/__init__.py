"""The timeline: recording events, the catalog, reading pages, notes and attachments, the hash chain, audit."""
