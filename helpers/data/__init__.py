"""The data layer: sources, the record table, preprocessing, near-duplicate groups, splits."""

from helpers.data.records import RECORD_COLUMNS, DataError  # noqa: F401
from helpers.data.registry import DATASETS, ensure_dataset, load_records  # noqa: F401
