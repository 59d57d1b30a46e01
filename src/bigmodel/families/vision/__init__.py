"""The vision family: a ViT image classifier (`transformers` ViTForImageClassification)."""
