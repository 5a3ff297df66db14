"""torchvision's ImageNet preprocessing on PIL images, for test/unit/shared/pillowParity.test.ts.

    Image.open(png).convert('RGB') -> Resize(S) -> CenterCrop((h, w)) -> ToTensor() -> Normalize(mean, std)

Resize and CenterCrop are torchvision.transforms.functional's PIL code paths written out
(_compute_resized_output_size with max_size None, F_pil.resize, center_crop with its padding);
the resampling itself is Pillow's. ToTensor and Normalize are torch's float32 arithmetic, done
here without numpy or torch: each value is rounded to float32 after every operation (a double
holds more than twice float32's precision, so one double operation then rounding is exactly the
float32 operation).

With "exif_transpose": true the image is first turned upright by ImageOps.exif_transpose.
Without a crop ("crop": false) it is Ray's read_images(size=(h, w)): img.resize((w, h), BILINEAR),
then ToTensor and Normalize.

Usage: pillowPreprocess.py MANIFEST.json. The manifest is a list of
{"png", "out", "height", "width", "resize", "crop", "exif_transpose", "mean", "std"}; for each item this writes
OUT.rgb (the convert('RGB') pixels), OUT.crop (the 8-bit image after resize and crop) and
OUT.f32 (the [3, h, w] float32 tensor, little-endian), and prints one JSON line with Pillow's
mode and the sizes.
"""

import json
import struct
import sys
from array import array

from PIL import Image, ImageOps


def resize(img, size):
    """torchvision F.resize(img, [size]) on a PIL image (interpolation BILINEAR, max_size None)."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if [h, w] == [new_h, new_w]:
        return img
    return img.resize((new_w, new_h), Image.BILINEAR)


def center_crop(img, crop_height, crop_width):
    """torchvision F.center_crop on a PIL image, padding with 0 when the crop is larger."""
    image_width, image_height = img.size
    if crop_width > image_width or crop_height > image_height:
        padding_ltrb = [
            (crop_width - image_width) // 2 if crop_width > image_width else 0,
            (crop_height - image_height) // 2 if crop_height > image_height else 0,
            (crop_width - image_width + 1) // 2 if crop_width > image_width else 0,
            (crop_height - image_height + 1) // 2 if crop_height > image_height else 0,
        ]
        # F_pil.pad, constant mode: ImageOps.expand with the fill repeated per band.
        img = ImageOps.expand(img, border=tuple(padding_ltrb), fill=(0, 0, 0))
        image_width, image_height = img.size
        if crop_width == image_width and crop_height == image_height:
            return img
    crop_top = int(round((image_height - crop_height) / 2.0))
    crop_left = int(round((image_width - crop_width) / 2.0))
    return img.crop((crop_left, crop_top, crop_left + crop_width, crop_top + crop_height))


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def normalise_table(mean, std):
    """ToTensor (u8 -> float32 / 255) then Normalize ((x - mean) / std, float32) for each byte value."""
    m, s = f32(mean), f32(std)
    return [f32(f32(f32(v / 255.0) - m) / s) for v in range(256)]


def main():
    with open(sys.argv[1]) as f:
        items = json.load(f)
    for item in items:
        opened = Image.open(item["png"])
        mode = opened.mode
        img = (ImageOps.exif_transpose(opened) if item.get("exif_transpose") else opened).convert("RGB")
        with open(item["out"] + ".rgb", "wb") as f:
            f.write(img.tobytes())
        if item.get("crop", True):
            resized = resize(img, item["resize"])
            crop = center_crop(resized, item["height"], item["width"])
        else:
            resized = img.resize((item["width"], item["height"]), Image.BILINEAR)
            crop = resized
        crop_bytes = crop.tobytes()
        with open(item["out"] + ".crop", "wb") as f:
            f.write(crop_bytes)
        tensor = array("f")
        for c in range(3):
            table = normalise_table(item["mean"][c], item["std"][c])
            tensor.extend(table[v] for v in crop_bytes[c::3])
        if sys.byteorder != "little":
            tensor.byteswap()
        with open(item["out"] + ".f32", "wb") as f:
            f.write(tensor.tobytes())
        print(json.dumps({"mode": mode, "size": list(opened.size), "resized": list(resized.size)}), flush=True)


main()
