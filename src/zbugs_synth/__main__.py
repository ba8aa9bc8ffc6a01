from zbugs_synth.cli import main

raise SystemExit(main())
