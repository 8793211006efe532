"""Pictures people would rather look at than read: overlays, contact sheets, curves."""
