const int x_placeholder = 0;
