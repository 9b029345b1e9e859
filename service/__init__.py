"""Virtual hotel: QR-code guest registration for a village of rentals run as one hotel."""
