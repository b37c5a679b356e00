"""Put on PYTHONPATH by the benchmark's "without sniffio" variant: `import sniffio` fails
with ModuleNotFoundError (what anyio and httpcore catch), as it did before sniffio was
pinned; httpcore then retries the import on every connection-pool operation. Never on
the path of the real services."""

raise ModuleNotFoundError("sniffio hidden by bench (variant 'without sniffio')")
