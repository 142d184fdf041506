"""Derives the canonical 68-point face template and the Haar-box calibration in
src/face/template.rs from the 300-W labels in ../shared (only averages are kept).

    python scripts/derive_template.py [--shared ../shared]

Needs numpy and opencv-python-headless (4.x, with CascadeClassifier) and Debian's opencv-data.
"""
import argparse
import csv
import os

import cv2
import numpy as np

CROP = 128


def normalise(points):
    centred = points - points.mean(0)
    return centred / np.sqrt((centred ** 2).sum() / len(centred))


def procrustes_to(points, reference):
    q = normalise(points)
    u, _, vt = np.linalg.svd(q.T @ reference)
    return q @ (u @ vt)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
    args = parser.parse_args()
    root = os.path.join(args.shared, "data", "landmarks", "300w")
    rows = list(csv.reader(open(os.path.join(root, "points.csv"))))[1:]
    shapes = np.array([np.array(r[2:], dtype=np.float64).reshape(68, 2) for r in rows])

    # Generalised Procrustes mean, eyes levelled.
    mean = normalise(shapes[0])
    for _ in range(5):
        mean = normalise(np.array([procrustes_to(s, mean) for s in shapes]).mean(0))
        right, left = mean[36:42].mean(0), mean[42:48].mean(0)
        angle = np.arctan2(left[1] - right[1], left[0] - right[0])
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        mean = mean @ rotation
    eye_distance = np.linalg.norm(mean[42:48].mean(0) - mean[36:42].mean(0))
    template = mean * (0.32 * CROP / eye_distance)
    eyes_mid = (template[36:42].mean(0) + template[42:48].mean(0)) / 2
    template = template - eyes_mid + np.array([CROP / 2, 0.33 * CROP])

    # Where the Haar frontal-face box sits relative to the landmarks.
    cascade = cv2.CascadeClassifier("/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml")
    in_box = []
    for row, shape in zip(rows, shapes):
        image = cv2.imread(os.path.join(root, row[0]), cv2.IMREAD_GRAYSCALE)
        if image is None:
            continue
        centre = shape.mean(0)
        faces = [f for f in cascade.detectMultiScale(image, 1.1, 4, minSize=(40, 40))
                 if f[0] < centre[0] < f[0] + f[2] and f[1] < centre[1] < f[1] + f[3]]
        if faces:
            x, y, w, h = max(faces, key=lambda f: f[2])
            in_box.append((shape - np.array([x + w / 2, y + h / 2])) / w)
    box_mean = np.array(in_box).mean(0)
    design = np.zeros((136, 3))
    design[0::2, 0], design[0::2, 1] = box_mean[:, 0], 1
    design[1::2, 0], design[1::2, 2] = box_mean[:, 1], 1
    scale, off_x, off_y = np.linalg.lstsq(design, template.reshape(-1), rcond=None)[0]

    print(f"faces found by the cascade: {len(in_box)} of {len(shapes)}")
    print(f"HAAR_SCALE = {scale:.2f}; HAAR_OFFSET = [{off_x:.2f}, {off_y:.2f}]")
    print("CANONICAL_68 =", np.round(template, 2).tolist())


if __name__ == "__main__":
    main()
