"""Image classification data: the Tiny ImageNet layout, the demo image set, batched augmentation."""
