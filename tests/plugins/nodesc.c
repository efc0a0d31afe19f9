/* A shared object that is not an agentd plugin: no descriptor symbol. */
int nodesc_answer(void);

int
nodesc_answer(void)
{
	return 42;
}
