"""QMP errors: a class (qapi/error.json QapiErrorClass) and a one-line text."""

from __future__ import annotations

ERROR_CLASSES = ("GenericError", "CommandNotFound", "DeviceNotActive", "DeviceNotFound",
                 "KVMMissingCap")


class QMPError(Exception):
    def __init__(self, error_class: str, desc: str):
        assert error_class in ERROR_CLASSES, error_class
        super().__init__(desc)
        self.error_class = error_class
        self.desc = desc

    def to_json(self) -> dict:
        return {"class": self.error_class, "desc": self.desc}
