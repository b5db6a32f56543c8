//! The convolution and BatchNorm kernels bnx's patched flex adds (vendor/burn-flex) against two
//! references, on random shapes: ndarray, which runs Burn's upstream generic path for the same
//! operations (im2col-free transposed convolutions, axis swaps for BatchNorm), and the
//! definition itself, summed in f64 on the host.
//!
//! Each case draws batch 1 to 5, odd and even sizes, strides, dilations, begin/end padding that
//! may differ, and groups; the loss is Σ y · r for a random r, so every gradient is checked.
//! Tolerance: |a − b| ≤ 2e-5 · (1 + max |reference|) per tensor — f32 sums of at most a few
//! hundred terms, reordered.

use burn::prelude::*;
use burn::tensor::module::{batch_norm, batch_norm_train, conv2d, max_pool2d_with_indices};
use burn::tensor::ops::ConvOptions;
use burn::tensor::ops::MaxPoolOptions;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const TOLERANCE: f64 = 2e-5;

fn random(rng: &mut StdRng, len: usize, offset: f32, scale: f32) -> Vec<f32> {
    (0..len)
        .map(|_| offset + scale * rng.random_range(-1.0f32..1.0))
        .collect()
}

fn tensor<const D: usize>(values: &[f32], shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device).require_grad()
}

fn host<const D: usize>(tensor: Tensor<D>) -> Vec<f64> {
    tensor
        .into_data()
        .try_to_vec::<f32>()
        .expect("f32 tensor")
        .into_iter()
        .map(f64::from)
        .collect()
}

fn assert_close(what: &str, actual: &[f64], expected: &[f64], case: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length ({case})");
    let scale = 1.0 + expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let worst = actual
        .iter()
        .zip(expected)
        .map(|(a, e)| (a - e).abs())
        .fold(0.0f64, f64::max);
    assert!(
        worst <= TOLERANCE * scale,
        "{what} differs by {worst:.3e} (allowed {:.3e}) in {case}",
        TOLERANCE * scale
    );
}

#[derive(Debug, Clone)]
struct ConvCase {
    x: [usize; 4],
    w: [usize; 4],
    stride: [usize; 2],
    padding: [(usize, usize); 2],
    dilation: [usize; 2],
    groups: usize,
}

impl ConvCase {
    fn draw(rng: &mut StdRng) -> Self {
        let groups = [1, 1, 1, 2, 3][rng.random_range(0..5)];
        let channels_in = groups * rng.random_range(1..4);
        let channels_out = groups * rng.random_range(1..4);
        let kernel = [rng.random_range(1..4), rng.random_range(1..4)];
        let dilation = [rng.random_range(1..3), rng.random_range(1..3)];
        let side = |k: usize, d: usize, rng: &mut StdRng| d * (k - 1) + rng.random_range(1..8);
        let pad = |rng: &mut StdRng| (rng.random_range(0..3), rng.random_range(0..3));
        Self {
            x: [
                rng.random_range(1..6),
                channels_in,
                side(kernel[0], dilation[0], rng),
                side(kernel[1], dilation[1], rng),
            ],
            w: [channels_out, channels_in / groups, kernel[0], kernel[1]],
            stride: [rng.random_range(1..3), rng.random_range(1..3)],
            padding: [pad(rng), pad(rng)],
            dilation,
            groups,
        }
    }

    fn options(&self) -> ConvOptions<2> {
        ConvOptions::new_with_padding(self.stride, self.padding, self.dilation, self.groups)
    }

    fn out(&self) -> [usize; 4] {
        let len = |i: usize| {
            let padded = self.x[2 + i] + self.padding[i].0 + self.padding[i].1;
            (padded - self.dilation[i] * (self.w[2 + i] - 1) - 1) / self.stride[i] + 1
        };
        [self.x[0], self.w[0], len(0), len(1)]
    }

    /// The input position a kernel tap reads for an output position, if inside the input.
    fn source(&self, axis: usize, out: usize, tap: usize) -> Option<usize> {
        let at = (out * self.stride[axis] + tap * self.dilation[axis]) as isize
            - self.padding[axis].0 as isize;
        (at >= 0 && (at as usize) < self.x[2 + axis]).then_some(at as usize)
    }

    /// y, and the gradients of Σ y·r for x, w and b, by the definition in f64.
    fn reference(&self, x: &[f32], w: &[f32], b: &[f32], r: &[f32]) -> [Vec<f64>; 4] {
        let [n, c_in, h, wd] = self.x;
        let [c_out, c_group, kh, kw] = self.w;
        let [_, _, oh, ow] = self.out();
        let out_group = c_out / self.groups;
        let mut y = vec![0.0; n * c_out * oh * ow];
        let (mut dx, mut dw) = (vec![0.0; x.len()], vec![0.0; w.len()]);
        let mut db = vec![0.0; c_out];
        for s in 0..n {
            for o in 0..c_out {
                for (p, q) in (0..oh).flat_map(|p| (0..ow).map(move |q| (p, q))) {
                    let out_at = ((s * c_out + o) * oh + p) * ow + q;
                    let grad = f64::from(r[out_at]);
                    let mut sum = f64::from(b[o]);
                    db[o] += grad;
                    for c in 0..c_group {
                        let channel = (o / out_group) * c_group + c;
                        for (i, j) in (0..kh).flat_map(|i| (0..kw).map(move |j| (i, j))) {
                            let (Some(ih), Some(iw)) = (self.source(0, p, i), self.source(1, q, j))
                            else {
                                continue;
                            };
                            let x_at = ((s * c_in + channel) * h + ih) * wd + iw;
                            let w_at = ((o * c_group + c) * kh + i) * kw + j;
                            sum += f64::from(x[x_at]) * f64::from(w[w_at]);
                            dx[x_at] += grad * f64::from(w[w_at]);
                            dw[w_at] += grad * f64::from(x[x_at]);
                        }
                    }
                    y[out_at] = sum;
                }
            }
        }
        [y, dx, dw, db]
    }

    /// The guide's second convolution (32 → 64 channels, 13×13, 3×3) at a given batch.
    /// The guide's first convolution: one input channel, 32 outputs, 28 × 28.
    fn guide_first(batch: usize) -> Self {
        ConvCase {
            x: [batch, 1, 28, 28],
            w: [32, 1, 3, 3],
            ..ConvCase::guide_second(batch)
        }
    }

    fn guide_second(batch: usize) -> Self {
        ConvCase {
            x: [batch, 32, 13, 13],
            w: [64, 32, 3, 3],
            stride: [1, 1],
            padding: [(0, 0); 2],
            dilation: [1, 1],
            groups: 1,
        }
    }

    /// y and the gradients of Σ y·r for x, w and b on one backend, through autodiff.
    fn run(&self, device: &Device, x: &[f32], w: &[f32], b: &[f32], r: &[f32]) -> [Vec<f64>; 4] {
        let device = device.clone().autodiff();
        let (xt, wt) = (tensor(x, self.x, &device), tensor(w, self.w, &device));
        let bt = tensor(b, [self.w[0]], &device);
        let rt = Tensor::<4>::from_data(TensorData::new(r.to_vec(), self.out()), &device);
        let y = conv2d(xt.clone(), wt.clone(), Some(bt.clone()), self.options());
        let grads = (y.clone() * rt).sum().backward();
        let grad = |t: &Tensor<4>| host(t.grad(&grads).expect("gradient"));
        [
            host(y),
            grad(&xt),
            grad(&wt),
            host(bt.grad(&grads).expect("gradient")),
        ]
    }
}

fn devices() -> (Device, Device) {
    #[allow(deprecated)] // ndarray runs Burn's upstream path: the reference these tests need
    (Device::flex(), Device::ndarray())
}

#[test]
fn convolution_and_its_gradients_match_ndarray_and_the_definition() {
    let (flex, ndarray) = devices();
    let mut rng = StdRng::seed_from_u64(7);
    let mut cases: Vec<ConvCase> = (0..60).map(|_| ConvCase::draw(&mut rng)).collect();
    // The guide's second convolution at batch 1 and 3 (fewer samples than threads: the GEMMs
    // use threads of their own) and 43 (the weight gradient sums parts of 8 samples, the last
    // one short), and a small one at batch 520 (above 512 samples, parts of 9).
    for batch in [1, 3, 43] {
        cases.push(ConvCase::guide_second(batch));
    }
    // The first at batch 43: its weight gradient transposes the im2col, the second's the output
    // gradient (vendored flex's `fma_chain_gemm`, on CPUs with AVX-512).
    cases.push(ConvCase::guide_first(43));
    cases.push(ConvCase {
        x: [520, 2, 5, 5],
        w: [3, 2, 3, 3],
        ..ConvCase::guide_second(520)
    });
    for case in &cases {
        let described = format!("{case:?}");
        let x = random(&mut rng, case.x.iter().product(), 0.0, 1.0);
        let w = random(&mut rng, case.w.iter().product(), 0.0, 0.5);
        let b = random(&mut rng, case.w[0], 0.0, 0.5);
        let r = random(&mut rng, case.out().iter().product(), 0.0, 1.0);
        let expected = case.reference(&x, &w, &b, &r);
        let from_flex = case.run(&flex, &x, &w, &b, &r);
        let from_ndarray = case.run(&ndarray, &x, &w, &b, &r);
        for (i, what) in ["output", "x gradient", "weight gradient", "bias gradient"]
            .iter()
            .enumerate()
        {
            assert_close(
                &format!("flex {what}"),
                &from_flex[i],
                &expected[i],
                &described,
            );
            assert_close(
                &format!("flex {what} (vs ndarray)"),
                &from_flex[i],
                &from_ndarray[i],
                &described,
            );
        }
    }
}

/// The convolution's kernels split the batch among threads; every result, the weight gradient
/// summed over the batch included, must come out bit for bit the same on 1, 2 or 3 threads. At
/// batch 2 that also compares two kernels: on one thread the per-sample products run on
/// `fma_chain_gemm` (on CPUs with AVX-512), on more threads than samples on `gemm`'s own threads.
#[test]
fn convolution_results_do_not_depend_on_the_thread_count() {
    let (flex, _) = devices();
    let mut rng = StdRng::seed_from_u64(11);
    let cases = [
        ConvCase::guide_second(43),
        ConvCase::guide_second(2),
        ConvCase::guide_first(43),
        ConvCase::guide_first(2),
    ];
    for case in cases {
        let x = random(&mut rng, case.x.iter().product(), 0.0, 1.0);
        let w = random(&mut rng, case.w.iter().product(), 0.0, 0.5);
        let b = random(&mut rng, case.w[0], 0.0, 0.5);
        let r = random(&mut rng, case.out().iter().product(), 0.0, 1.0);
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool")
                .install(|| case.run(&flex, &x, &w, &b, &r))
        };
        let one = on(1);
        for threads in [2, 3] {
            let many = on(threads);
            for (i, what) in ["output", "x gradient", "weight gradient", "bias gradient"]
                .iter()
                .enumerate()
            {
                let same = one[i]
                    .iter()
                    .zip(&many[i])
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same,
                    "{what} on {threads} threads differs from 1 thread in {case:?}"
                );
            }
        }
    }
}

/// y, batch mean, batch variance and the gradients of Σ y·r for x, γ, β on one backend.
fn batch_norm_run<const D: usize>(
    device: &Device,
    shape: [usize; D],
    [x, gamma, beta, r]: [&[f32]; 4],
) -> [Vec<f64>; 6] {
    let device = device.clone().autodiff();
    let channels = shape[1];
    let xt = tensor(x, shape, &device);
    let (gt, bt) = (
        tensor(gamma, [channels], &device),
        tensor(beta, [channels], &device),
    );
    let rt = Tensor::<D>::from_data(TensorData::new(r.to_vec(), shape), &device);
    let out = batch_norm_train(xt.clone(), gt.clone(), bt.clone(), 1e-3);
    let grads = (out.output.clone() * rt).sum().backward();
    [
        host(out.output),
        host(out.mean),
        host(out.variance),
        host(xt.grad(&grads).expect("gradient")),
        host(gt.grad(&grads).expect("gradient")),
        host(bt.grad(&grads).expect("gradient")),
    ]
}

/// The same by the definition, in f64.
fn batch_norm_reference(shape: &[usize], [x, gamma, beta, r]: [&[f32]; 4]) -> [Vec<f64>; 6] {
    let (n, c) = (shape[0], shape[1]);
    let run: usize = shape[2..].iter().product();
    let count = (n * run) as f64;
    let at = |s: usize, ch: usize, i: usize| (s * c + ch) * run + i;
    let indices = |ch: usize| (0..n).flat_map(move |s| (0..run).map(move |i| at(s, ch, i)));
    let mut y = vec![0.0; x.len()];
    let mut dx = vec![0.0; x.len()];
    let (mut means, mut variances) = (vec![0.0; c], vec![0.0; c]);
    let (mut dgamma, mut dbeta) = (vec![0.0; c], vec![0.0; c]);
    for ch in 0..c {
        let mean = indices(ch).map(|k| f64::from(x[k])).sum::<f64>() / count;
        let variance = indices(ch)
            .map(|k| (f64::from(x[k]) - mean).powi(2))
            .sum::<f64>()
            / count;
        let inv_std = 1.0 / (variance + 1e-3).sqrt();
        let g = f64::from(gamma[ch]);
        let xhat = |k: usize| (f64::from(x[k]) - mean) * inv_std;
        for k in indices(ch) {
            y[k] = g * xhat(k) + f64::from(beta[ch]);
            dbeta[ch] += f64::from(r[k]);
            dgamma[ch] += f64::from(r[k]) * xhat(k);
        }
        for k in indices(ch) {
            dx[k] =
                g * inv_std * (f64::from(r[k]) - dbeta[ch] / count - xhat(k) * dgamma[ch] / count);
        }
        (means[ch], variances[ch]) = (mean, variance);
    }
    [y, means, variances, dx, dgamma, dbeta]
}

fn check_batch_norm<const D: usize>(shape: [usize; D], rng: &mut StdRng) {
    let (flex, ndarray) = devices();
    let (len, channels) = (shape.iter().product(), shape[1]);
    // A mean far from zero against the spread: the kernels must subtract it before scaling.
    let x = random(rng, len, 3.0, 2.0);
    let gamma = random(rng, channels, 1.0, 0.5);
    let beta = random(rng, channels, 0.0, 0.5);
    let r = random(rng, len, 0.0, 1.0);
    let inputs = [&x[..], &gamma, &beta, &r];
    let expected = batch_norm_reference(&shape, inputs);
    let from_flex = batch_norm_run(&flex, shape, inputs);
    let from_ndarray = batch_norm_run(&ndarray, shape, inputs);
    let case = format!("shape {shape:?}");
    let names = [
        "output",
        "mean",
        "variance",
        "x gradient",
        "γ gradient",
        "β gradient",
    ];
    for (i, what) in names.iter().enumerate() {
        assert_close(&format!("flex {what}"), &from_flex[i], &expected[i], &case);
        assert_close(
            &format!("flex {what} (vs ndarray)"),
            &from_flex[i],
            &from_ndarray[i],
            &case,
        );
    }

    // Inference with supplied statistics, against ndarray.
    let infer = |device: &Device| {
        let t = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [channels]), device);
        let variance: Vec<f32> = gamma.iter().map(|g| g * g + 0.1).collect();
        host(batch_norm(
            Tensor::<D>::from_data(TensorData::new(x.clone(), shape), device),
            t(&gamma),
            t(&beta),
            t(&beta),
            t(&variance),
            1e-5,
        ))
    };
    assert_close(
        "flex inference (vs ndarray)",
        &infer(&flex),
        &infer(&ndarray),
        &case,
    );
}

#[test]
fn batch_norm_and_its_gradients_match_ndarray_and_the_definition() {
    let mut rng = StdRng::seed_from_u64(11);
    // Dense layers: [batch, features], batch 1 included (zero variance).
    for shape in [[1, 3], [2, 5], [7, 4], [32, 128]] {
        check_batch_norm(shape, &mut rng);
    }
    // Convolutions: odd planes, runs shorter and longer than the kernels' vector width.
    for shape in [[1, 2, 3, 3], [3, 4, 5, 7], [2, 3, 13, 13], [5, 2, 1, 9]] {
        check_batch_norm(shape, &mut rng);
    }
    check_batch_norm([2, 3, 4, 5, 3], &mut rng);
}

/// One max-pooling's values (as bits, so NaN compares) and indices.
fn max_pool(
    device: &Device,
    x: &[f32],
    shape: [usize; 4],
    [kernel, stride, dilation]: [[usize; 2]; 3],
    ceil_mode: bool,
) -> (Vec<u32>, Vec<i64>) {
    let xt = Tensor::<4>::from_data(TensorData::new(x.to_vec(), shape), device);
    let options = MaxPoolOptions::new(kernel)
        .with_stride(stride)
        .with_dilation(dilation)
        .with_ceil_mode(ceil_mode);
    let (values, indices) = max_pool2d_with_indices(xt, options);
    let values = values.into_data().try_to_vec::<f32>().unwrap();
    let indices = indices
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap();
    (values.into_iter().map(f32::to_bits).collect(), indices)
}

/// Max pooling by the definition PyTorch documents: each window read row by row, the first
/// largest value wins a tie, a NaN always wins (so the last NaN's index is returned), and the
/// index is the position in the input plane.
fn max_pool_definition(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    [kernel, stride, dilation]: [[usize; 2]; 3],
    [oh, ow]: [usize; 2],
) -> (Vec<u32>, Vec<i64>) {
    let (mut values, mut indices) = (Vec::new(), Vec::new());
    for plane in 0..n * c {
        for (p, q) in (0..oh).flat_map(|p| (0..ow).map(move |q| (p, q))) {
            let mut best: Option<(f32, usize)> = None;
            for (i, j) in (0..kernel[0]).flat_map(|i| (0..kernel[1]).map(move |j| (i, j))) {
                let at = (p * stride[0] + i * dilation[0]) * w + q * stride[1] + j * dilation[1];
                let v = x[plane * h * w + at];
                if best.is_none_or(|(b, _)| v > b || v.is_nan()) {
                    best = Some((v, at));
                }
            }
            let (v, at) = best.expect("a window holds a value");
            values.push(v.to_bits());
            indices.push(at as i64);
        }
    }
    (values, indices)
}

#[test]
fn max_pool_fast_path_matches_the_general_path_ndarray_and_the_definition() {
    let (flex, ndarray) = devices();
    let mut rng = StdRng::seed_from_u64(11);
    // Few distinct values, so windows tie; −inf and NaN in some cases.
    let palette = [-1.0f32, 0.0, 0.5, 2.0];
    let mut cases = 0;
    for case in 0..100 {
        let mut kernel = [rng.random_range(1..4), rng.random_range(1..4)];
        let mut stride = [rng.random_range(1..3), rng.random_range(1..3)];
        let mut dilation = [rng.random_range(1..3), rng.random_range(1..3)];
        let mut out = [rng.random_range(1..5), rng.random_range(1..5)];
        // The last 20: the guide's MaxPool2d(2), which has a path of its own, half of them on
        // odd sides whose last row and column no window reads, and rows of up to 13 outputs
        // (the guide's widest), whose last vector of four overlaps the one before it.
        let guide = case >= 80;
        if guide {
            (kernel, stride, dilation) = ([2, 2], [2, 2], [1, 1]);
            out[1] = rng.random_range(1..14);
        }
        let spare = usize::from(guide && case % 2 == 1);
        // Sizes at which the windows tile the input exactly: ceil mode then gives the same
        // output size, and runs flex's general path over the same windows.
        let side = |a: usize| (out[a] - 1) * stride[a] + dilation[a] * (kernel[a] - 1) + 1;
        let shape = [
            rng.random_range(1..4),
            rng.random_range(1..4),
            side(0) + spare,
            side(1) + spare,
        ];
        let (with_nan, with_neg_inf) = (case % 4 == 1, case % 4 >= 2);
        let x: Vec<f32> = (0..shape.iter().product::<usize>())
            .map(|_| match rng.random_range(0..10) {
                0 if with_nan => f32::NAN,
                1 | 2 if with_neg_inf => f32::NEG_INFINITY,
                3 => rng.random_range(-3.0f32..3.0),
                k => palette[k % palette.len()],
            })
            .collect();
        let geometry = [kernel, stride, dilation];
        let label = format!(
            "case {case}: x {shape:?}, kernel {kernel:?}, stride {stride:?}, dilation {dilation:?}"
        );
        let fast = max_pool(&flex, &x, shape, geometry, false);
        if spare == 0 {
            assert_eq!(
                fast,
                max_pool(&flex, &x, shape, geometry, true),
                "fast vs general path, {label}"
            );
        }
        assert_eq!(
            fast,
            max_pool_definition(&x, shape, geometry, out),
            "fast path vs definition, {label}"
        );
        // ndarray agrees wherever its rules are the same: no NaN (it never lets one win), and no
        // window of only −inf (it then returns index 0, not the window's first position).
        if !with_nan && !with_neg_inf {
            assert_eq!(
                fast,
                max_pool(&ndarray, &x, shape, geometry, false),
                "flex vs ndarray, {label}"
            );
        }
        cases += 1;
    }
    assert_eq!(cases, 100);
}
