package runc

// runcSupported reports whether runc can run here: on Linux it can.
func runcSupported() error { return nil }
