"""Tips: intake, geotags, tip codes, anonymity and follow-up threads."""
