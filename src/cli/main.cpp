#include "cli/app.hpp"

int main(int argc, char **argv) { return tiermem::cli::run_cli(argc, argv); }
