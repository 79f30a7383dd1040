"""Data: the prepared-scene format, synthetic rooms, ScanNet / ScanNet++ preparation, sampling, batching."""
