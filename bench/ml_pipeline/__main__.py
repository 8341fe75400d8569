from bench.ml_pipeline.run import main

main()
