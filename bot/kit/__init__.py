"""Bot-layer building blocks shared by every feature: dialogs as data, buttons, people."""
