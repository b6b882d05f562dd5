from bpfdoctor.cli import main

main()
