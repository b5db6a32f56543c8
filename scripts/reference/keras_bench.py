"""The Keras guide's four networks in Keras 3 on TensorFlow, as the guide builds them:
Dense/Conv -> BatchNormalization -> ReLU, every setting a Keras default (Glorot-uniform, zero
bias, BN momentum 0.99 and epsilon 1e-3, Adam lr 1e-3 and epsilon 1e-7), trained with
`model.fit` and an accuracy metric.

    python keras_bench.py --model cnn --bn --batch-size 32 --steps 100   # one JSON line
    python keras_bench.py --model mlp --bn --epochs 3                     # accuracies
"""

import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import mnist  # noqa: E402

ARGS = mnist.parse_args("Keras")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(ARGS.threads)
tf.config.threading.set_inter_op_parallelism_threads(ARGS.threads)


def block(x, layer, bn):
    x = layer(x)
    if bn:
        x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def network(model, bn):
    if model == "mlp":
        inputs = keras.Input((28, 28))
        x = layers.Flatten()(inputs)
        for width in (128, 64, 32):
            x = block(x, layers.Dense(width), bn)
    else:
        inputs = keras.Input((28, 28, 1))
        x = block(inputs, layers.Conv2D(32, 3), bn)
        x = layers.MaxPooling2D(2)(x)
        x = block(x, layers.Conv2D(64, 3), bn)
        x = layers.MaxPooling2D(2)(x)
        x = block(layers.Flatten()(x), layers.Dense(64), bn)
    outputs = layers.Dense(10)(x)
    net = keras.Model(inputs, outputs)
    net.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return net


class StepClock(keras.callbacks.Callback):
    """Time from the end of warm-up step `warmup` to the end of the last timed step."""

    def __init__(self, warmup, steps):
        super().__init__()
        self.warmup, self.steps = warmup, steps
        self.started = self.seconds = None

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 == self.warmup:
            self.started = time.perf_counter()
        elif batch + 1 == self.warmup + self.steps:
            self.seconds = time.perf_counter() - self.started


def main():
    args = ARGS
    keras.utils.set_random_seed(args.seed)
    x_train, y_train, x_test, y_test = mnist.load(args.data_dir)
    if args.model == "cnn":
        x_train, x_test = x_train[..., None], x_test[..., None]
    net = network(args.model, args.bn)
    if args.epochs:
        net.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                validation_data=(x_test, y_test), verbose=2)
        return
    if args.warmup < 1:
        raise SystemExit("--warmup must be at least 1 (the first step traces the graph)")
    count = (args.warmup + args.steps) * args.batch_size
    repeats = -(-count // len(y_train))
    index = np.concatenate([np.random.permutation(len(y_train)) for _ in range(repeats)])[:count]
    clock = StepClock(args.warmup, args.steps)
    net.fit(x_train[index], y_train[index], batch_size=args.batch_size, epochs=1,
            shuffle=False, verbose=0, callbacks=[clock])
    mnist.report_timing("keras", f"{keras.__version__}/tf{tf.__version__}", args, clock.seconds)


if __name__ == "__main__":
    main()
