//! Data: IDX files → in-memory datasets → batches on a device.

pub mod batcher;
pub mod datasets;
pub mod digits;
pub mod fetch;
pub mod idx;
pub mod locate;

pub use batcher::{ImageBatch, ImageBatcher};
pub use datasets::{DataError, DatasetKind, DatasetProvenance, ImageItem, ImageSet, LoadedData};
