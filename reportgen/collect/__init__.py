"""Collection: turn a source (Azure or the built-in sample tenant) into a snapshot."""
