// Placeholder until this module lands; delete when adding the first real file.
