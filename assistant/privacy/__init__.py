"""Personal data: masking of ID-card, passport and phone numbers in stored text and logs."""

from assistant.privacy.masking import MaskingFilter, mask_pii

__all__ = ["MaskingFilter", "mask_pii"]
