"""Configuration: the only code that reads the environment; it builds the settings of each stage (pack/, octopus/)."""
