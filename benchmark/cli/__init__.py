"""The `mirl` command line; each verb lives in its own small module and is imported only when used."""
