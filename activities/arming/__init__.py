"""The activity side of arming ahead: an armed event's wait, its claim and a herd's spread."""
