"""The nouns of kexec-lineage as frozen dataclasses: pure, no I/O."""
