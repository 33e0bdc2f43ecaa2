"""总对总 guarantee agreements, batches, guarantees and compensation (the guarantees issue builds them here)."""
