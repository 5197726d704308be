from hubfw.cli import main

main()
