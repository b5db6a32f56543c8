#!/usr/bin/env python3
"""Writes assets/digits/*.png: the first three MNIST test images (a 7, a 2 and a 1) as a person
might photograph or draw them — enlarged five times, dark ink on light-grey paper, off-centre on
a wider canvas — to try `bnx predict` on. Standard library only."""
import gzip
import pathlib
import struct
import zlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
images = gzip.open(ROOT / "assets/mnist/t10k-images-idx3-ubyte.gz").read()[16:]
labels = gzip.open(ROOT / "assets/mnist/t10k-labels-idx1-ubyte.gz").read()[8:]


def png(path, rows):
    height, width = len(rows), len(rows[0])
    raw = b"".join(b"\x00" + bytes(row) for row in rows)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


names = {7: "seven", 2: "two", 1: "one"}
for index in range(3):
    pixels = images[index * 784:(index + 1) * 784]
    paper, zoom, left, top = 225, 5, 30, 10
    rows = [[paper] * 220 for _ in range(160)]
    for y in range(28 * zoom):
        for x in range(28 * zoom):
            ink = pixels[(y // zoom) * 28 + x // zoom]
            rows[top + y][left + x] = paper - ink * 200 // 255
    png(ROOT / f"assets/digits/{names[labels[index]]}.png", rows)
