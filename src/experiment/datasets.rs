//! The data a run reads: the configured dataset, fetched into the cache folder on first use
//! when it is not on this machine (saying so), with the sample limits applied.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;

use super::error::ExperimentError;
use crate::config::DataConfig;
use crate::data::fetch::{self, Transfer};
use crate::data::{DataError, DatasetKind, LoadedData, datasets, locate};
use crate::runtime::Progress;

/// Loads the configured dataset (fetching it first if it is not here) and applies the limits.
pub fn load_data(config: &DataConfig, progress: &Progress) -> Result<LoadedData, ExperimentError> {
    let cache = fetch::cache_root(None).ok();
    let dir =
        match locate::resolve_dir(config.dataset, config.data_dir.as_deref(), cache.as_deref()) {
            Err(DataError::NotFetched { dataset }) => {
                let Some(root) = cache else {
                    return Err(fetch::FetchError::NoCacheDir.into());
                };
                progress.line(format!(
                    "{} is not on this machine: fetching it into {} (checksums pinned in bnx)",
                    dataset.title(),
                    fetch::dataset_dir(&root, dataset).display()
                ));
                fetch_dataset(dataset, &root, progress)?
            }
            other => other?,
        };
    let loaded = datasets::load(config.dataset, &dir)?;
    Ok(loaded.limited(config.limit_train, config.limit_test))
}

/// Downloads what the cache folder `root` lacks of `dataset`, with a bar per file.
pub fn fetch_dataset(
    dataset: DatasetKind,
    root: &Path,
    progress: &Progress,
) -> Result<PathBuf, ExperimentError> {
    let mut bars = DownloadBars {
        progress,
        bar: None,
    };
    Ok(fetch::fetch(dataset, root, &mut bars)?)
}

/// One indicatif bar per downloaded file.
struct DownloadBars<'a> {
    progress: &'a Progress,
    bar: Option<ProgressBar>,
}

impl Transfer for DownloadBars<'_> {
    fn start(&mut self, file: &str, total: Option<u64>) {
        self.bar = Some(self.progress.download_bar(file, total));
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
