//! The next training batch, built on a second thread while the current step computes.
//!
//! Building a batch (drawing 128 shuffled images from the 47 MB training set, scaling them to
//! floats, making the tensors) took about a tenth of the MLP's step at batch 128, which trains on
//! one thread and leaves the other core idle. Burn's own worker threads (`num_workers`) hand
//! batches over in the order they finish, which would change the data order and so every number;
//! here one thread walks the loader's iterator in order and the step loop takes its batches in
//! that order, so training is the same, bit for bit.

use std::sync::mpsc;

use burn::data::dataloader::DataLoader;
use burn::data::dataset::DatasetError;

use crate::data::ImageBatch;

/// One epoch of `loader`'s batches, in its order, as `consume` iterates them: a second thread
/// builds each batch while `consume` works on the one before (at most two ahead). Returns what
/// `consume` returns; when it stops early, the thread stops at its next batch.
pub(crate) fn with_prefetched<R>(
    loader: &dyn DataLoader<ImageBatch>,
    consume: impl FnOnce(&mut dyn Iterator<Item = Result<ImageBatch, DatasetError>>) -> R,
) -> R {
    std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::sync_channel(1);
        scope.spawn(move || {
            for batch in loader.iter() {
                if sender.send(batch).is_err() {
                    break; // `consume` returned: nobody takes more batches.
                }
            }
        });
        // `receiver` is dropped when this closure returns, before the scope waits for the
        // thread: its next `send` then fails, and it stops.
        consume(&mut receiver.iter())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ImageSet;
    use crate::train::Trainer;
    use crate::{config::TrainingConfig, model::NetworkConfig};
    use burn::prelude::*;

    fn labels(batch: ImageBatch) -> Vec<i64> {
        batch
            .targets
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap()
    }

    #[test]
    fn batches_come_in_the_loaders_order_and_an_early_stop_ends_the_thread() {
        // 40 images labelled 0..40 (mod 256), shuffled in batches of 8: the prefetched epoch
        // must be the loader's own next epoch, batch for batch.
        let set = ImageSet::new(vec![0u8; 40 * 784], (0..40).collect());
        let device = Device::flex();
        let training = TrainingConfig {
            batch_size: 8,
            seed: 3,
            ..TrainingConfig::default()
        };
        let trainer = Trainer::new(
            NetworkConfig::default().init(3, &device),
            &device,
            &training,
        );
        let (direct, prefetched) = (trainer.loader(&set, 8, 3), trainer.loader(&set, 8, 3));
        for _epoch in 0..2 {
            let expected: Vec<Vec<i64>> = direct.iter().map(|b| labels(b.unwrap())).collect();
            let got = with_prefetched(prefetched.as_ref(), |batches| {
                batches.map(|b| labels(b.unwrap())).collect::<Vec<_>>()
            });
            assert_eq!(got, expected);
            assert_eq!(got.concat().len(), 40);
        }
        // Taking one batch and returning must not hang on the thread's pending sends.
        let first = with_prefetched(prefetched.as_ref(), |batches| {
            batches.next().map(|b| labels(b.unwrap()))
        });
        assert_eq!(
            first,
            Some(direct.iter().next().map(|b| labels(b.unwrap())).unwrap())
        );
    }
}
