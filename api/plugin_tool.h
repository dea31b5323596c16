/* plugin_tool.h: the `souq plugin` commands (api/plugin_tool.c). */
#ifndef SQ_PLUGIN_TOOL_H
#define SQ_PLUGIN_TOOL_H

/** souq plugin new NAME [DIR] | souq plugin test DIR...: argv starts at the subcommand. Returns the exit code. */
int sq_cmd_plugin(int argc, char **argv);

#endif
