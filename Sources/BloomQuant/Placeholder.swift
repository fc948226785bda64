// BloomQuant: see Package.swift for this module's room. Replace this placeholder with the module's first real file.
