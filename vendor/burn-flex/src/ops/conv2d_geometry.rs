//! The sizes of one 2D convolution, checked once, and the index arithmetic its kernels share.

use burn_backend::ops::ConvOptions;

/// The sizes of one convolution, read from its input, weight and output gradient.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geometry {
    pub(super) batch: usize,
    pub(super) channels_in: usize,
    pub(super) in_h: usize,
    pub(super) in_w: usize,
    pub(super) channels_out: usize,
    pub(super) kernel_h: usize,
    pub(super) kernel_w: usize,
    pub(super) out_h: usize,
    pub(super) out_w: usize,
    pub(super) stride: [usize; 2],
    pub(super) padding: [usize; 2],
    pub(super) dilation: [usize; 2],
    pub(super) groups: usize,
}

impl Geometry {
    /// The sizes, after checking that the three shapes describe one convolution: every kernel
    /// below indexes (and `gemm_strided` reads and writes raw memory) on the strength of them.
    pub(super) fn new(x: &[usize], weight: &[usize], output_grad: &[usize], options: &ConvOptions<2>) -> Self {
        assert!(
            x.len() == 4 && weight.len() == 4 && output_grad.len() == 4,
            "conv2d: input {x:?}, weight {weight:?} and output gradient {output_grad:?} must each have 4 axes"
        );
        let groups = options.groups;
        assert!(
            groups >= 1 && x[1] == weight[1] * groups && weight[0] % groups == 0,
            "conv2d: {groups} groups do not fit input channels {} and weight {weight:?}",
            x[1]
        );
        assert!(
            options.stride.iter().chain(&options.dilation).all(|&s| s >= 1),
            "conv2d: stride {:?} and dilation {:?} must be at least 1",
            options.stride,
            options.dilation
        );
        assert!(
            weight[2] >= 1 && weight[3] >= 1,
            "conv2d: kernel {weight:?} has an empty spatial axis"
        );
        for axis in 0..2 {
            let padded = x[2 + axis] + options.padding[axis].0 + options.padding[axis].1;
            let reach = options.dilation[axis] * (weight[2 + axis] - 1) + 1;
            assert!(
                padded >= reach,
                "conv2d: kernel {weight:?} with dilation {:?} is larger than the padded input {x:?}",
                options.dilation
            );
            let out = (padded - reach) / options.stride[axis] + 1;
            assert_eq!(
                output_grad[2 + axis],
                out,
                "conv2d: output size {output_grad:?} does not follow from input {x:?}, weight {weight:?} and {options:?}"
            );
        }
        assert!(
            output_grad[0] == x[0] && output_grad[1] == weight[0],
            "conv2d: output {output_grad:?} does not match batch {} and {} output channels",
            x[0],
            weight[0]
        );
        Self {
            batch: x[0],
            channels_in: x[1],
            in_h: x[2],
            in_w: x[3],
            channels_out: weight[0],
            kernel_h: weight[2],
            kernel_w: weight[3],
            out_h: output_grad[2],
            out_w: output_grad[3],
            stride: options.stride,
            padding: options.padding_begin(),
            dilation: options.dilation,
            groups: options.groups,
        }
    }

    pub(super) fn positions(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Rows of `cols`: one per input channel and kernel tap.
    pub(super) fn rows(&self) -> usize {
        self.channels_in * self.kernel_h * self.kernel_w
    }

    /// The input channel and the kernel tap `(kh, kw)` of im2col row `row`.
    pub(super) fn tap(&self, row: usize) -> (usize, usize, usize) {
        let taps = self.kernel_h * self.kernel_w;
        (row / taps, (row / self.kernel_w) % self.kernel_h, row % self.kernel_w)
    }

    /// Rows of `cols` that belong to one group (the weight's second axis, flattened).
    pub(super) fn group_rows(&self) -> usize {
        self.rows() / self.groups
    }

    pub(super) fn group_channels_out(&self) -> usize {
        self.channels_out / self.groups
    }

    /// Elements of one sample's im2col (and of its column gradient).
    pub(super) fn cols_len(&self) -> usize {
        self.rows() * self.positions()
    }
}

/// The output indices `o` whose input index `o·stride + offset` lies in `0..input_len`.
pub(super) fn valid_range(output_len: usize, input_len: usize, stride: usize, offset: isize) -> (usize, usize) {
    let stride = stride as isize;
    let first = if offset >= 0 { 0 } else { (-offset + stride - 1) / stride };
    let end = (input_len as isize - offset + stride - 1).div_euclid(stride);
    let first = (first as usize).min(output_len);
    (first, (end.max(0) as usize).clamp(first, output_len))
}

/// The output size along one axis (begin and end padding may differ).
pub(super) fn output_len(input: usize, kernel: usize, stride: usize, padding: (usize, usize), dilation: usize) -> usize {
    let padded = input + padding.0 + padding.1;
    let span = dilation * (kernel - 1) + 1;
    if padded < span { 0 } else { (padded - span) / stride + 1 }
}

#[cfg(test)]
mod tests {
    use super::valid_range;

    #[test]
    fn valid_range_matches_a_scan() {
        for output_len in 0..7 {
            for input_len in 0..7 {
                for stride in 1..4 {
                    for offset in -5isize..5 {
                        let expected: Vec<usize> = (0..output_len)
                            .filter(|&o| {
                                let i = (o * stride) as isize + offset;
                                i >= 0 && i < input_len as isize
                            })
                            .collect();
                        let (first, end) = valid_range(output_len, input_len, stride, offset);
                        assert_eq!((first..end).collect::<Vec<_>>(), expected);
                    }
                }
            }
        }
    }
}
