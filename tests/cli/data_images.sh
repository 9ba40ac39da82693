#!/bin/sh
# `moelens data images`: Fashion-MNIST subset into the prepared format, info, and clear errors.
set -e
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
F=tests/fixtures/images
./moelens data images --help | grep -q -- "--train-styles"
# the fixture slice as the t10k half of a Debian-like folder
mkdir -p "$T/deb/dataset-fashion-mnist/usr/share/datasets/fashion-mnist"
D="$T/deb/dataset-fashion-mnist/usr/share/datasets/fashion-mnist"
cp $F/t10k-images-idx3-ubyte.gz "$D/train-images-idx3-ubyte.gz"
cp $F/t10k-labels-idx1-ubyte.gz "$D/train-labels-idx1-ubyte.gz"
cp $F/t10k-* "$D/"
./moelens data images --set fashion-mnist --data "$T" --subset 12 --size 16 | grep -q "24 images 16x16"
test -f "$T/images/fashion-mnist/meta.json"
./moelens data images --info "$T/images/fashion-mnist" > "$T/info.txt"
grep -q "24 images, 1 channel, 16x16; train 12, held out 12" "$T/info.txt"
grep -q "Ankle boot" "$T/info.txt"
# errors: one line naming the problem, exit 1
if ./moelens data images --heldout-styles nope 2> "$T/err"; then exit 1; fi
grep -q "unknown style 'nope'" "$T/err"
if ./moelens data images --data "$T/empty" 2> "$T/err"; then exit 1; fi
grep -q "data.json" "$T/err"
if ./moelens data images --info "$T/nothing" 2> "$T/err"; then exit 1; fi
grep -q "no such file" "$T/err"
echo ok
