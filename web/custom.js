// Loaded by sao's index.html; nothing to customise yet.
