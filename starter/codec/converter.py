"""The data converter shared by every client, worker and replayer (pydantic models on the wire)."""

from __future__ import annotations

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

DATA_CONVERTER: DataConverter = pydantic_data_converter
"""Client, worker and replayer must agree on this; a history replays only with the converter that wrote it."""
