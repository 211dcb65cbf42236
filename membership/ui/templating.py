"""Jinja2 for the UI's templates: a compiled-template cache shared by the whole process."""

from jinja2 import BytecodeCache


class ProcessBytecodeCache(BytecodeCache):
    """Compiled templates kept in memory for the process, shared by every app it builds
    (the tests build hundreds). A bucket's key includes the checksum of the template's
    source, so an edited template is compiled again."""

    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        data = self.store.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket) -> None:
        self.store[bucket.key] = bucket.bytecode_to_string()


BYTECODE_CACHE = ProcessBytecodeCache()
