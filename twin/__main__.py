try:
    from twin.cli import interrupted, main
except KeyboardInterrupt:  # pragma: no cover - a signal within the first milliseconds
    raise SystemExit(130) from None

try:
    main()
except KeyboardInterrupt as exc:  # between two imports of `main`'s, before any command ran
    interrupted(exc)
