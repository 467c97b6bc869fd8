# posturepod pod firmware entry point: runs at boot (after boot.py).
# Ctrl-C on the serial link stops it and leaves the REPL (mpremote works as usual).
import pod.app

pod.app.main()
